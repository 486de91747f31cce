import Inventory2Icon from "@mui/icons-material/Inventory2";
import { ModelVersionList } from "./ModelVersionList";

export default { list: ModelVersionList, icon: Inventory2Icon, recordRepresentation: "version" };
