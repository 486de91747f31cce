import ScienceIcon from "@mui/icons-material/Science";
import { SweepList } from "./SweepList";
import { SweepShow } from "./SweepShow";

export default { list: SweepList, show: SweepShow, icon: ScienceIcon, recordRepresentation: "name" };
