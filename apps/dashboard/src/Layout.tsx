import CompareArrowsIcon from "@mui/icons-material/CompareArrows";
import ImageSearchIcon from "@mui/icons-material/ImageSearch";
import PostAddIcon from "@mui/icons-material/PostAdd";
import type { ReactNode } from "react";
import { Layout as RaLayout, Menu as RaMenu, usePermissions } from "react-admin";
import { roleAtLeast } from "./authProvider";

function Menu() {
  const { permissions } = usePermissions();
  return (
    <RaMenu>
      <RaMenu.ResourceItem name="sweeps" />
      <RaMenu.ResourceItem name="runs" />
      <RaMenu.Item
        to="/compare"
        primaryText="Compare"
        leftIcon={<CompareArrowsIcon />}
        data-testid="menu-compare"
      />
      <RaMenu.Item
        to="/explain"
        primaryText="Explain"
        leftIcon={<ImageSearchIcon />}
        data-testid="menu-explain"
      />
      {roleAtLeast(permissions, "operator") && (
        <RaMenu.Item
          to="/submit"
          primaryText="Submit sweep"
          leftIcon={<PostAddIcon />}
          data-testid="menu-submit"
        />
      )}
      <RaMenu.ResourceItem name="model-versions" />
      <RaMenu.ResourceItem name="datasets" />
      <RaMenu.ResourceItem name="workers" />
      {roleAtLeast(permissions, "admin") && <RaMenu.ResourceItem name="audit" />}
    </RaMenu>
  );
}

export function Layout({ children }: { children: ReactNode }) {
  return (
    // react-admin sizes the layout to fit its content; min-width 0 keeps it to the window instead, so
    // wide tables scroll inside their own containers rather than widening the whole page.
    <RaLayout menu={Menu} sx={{ minWidth: 0, "& .RaLayout-content": { minWidth: 0 } }}>
      {children}
    </RaLayout>
  );
}
