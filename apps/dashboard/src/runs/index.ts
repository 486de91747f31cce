import TimelineIcon from "@mui/icons-material/Timeline";
import { RunList } from "./RunList";
import { RunShow } from "./RunShow";

export default { list: RunList, show: RunShow, icon: TimelineIcon, recordRepresentation: "key" };
