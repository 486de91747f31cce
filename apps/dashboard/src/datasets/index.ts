import PhotoLibraryIcon from "@mui/icons-material/PhotoLibrary";
import { DatasetList } from "./DatasetList";
import { DatasetShow } from "./DatasetShow";

export default { list: DatasetList, show: DatasetShow, icon: PhotoLibraryIcon, recordRepresentation: "name" };
