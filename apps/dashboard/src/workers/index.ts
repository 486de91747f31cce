import MemoryIcon from "@mui/icons-material/Memory";
import { WorkerList } from "./WorkerList";

export default { list: WorkerList, icon: MemoryIcon, recordRepresentation: "host" };
