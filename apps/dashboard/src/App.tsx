import { useMemo } from "react";
import { Admin, Authenticated, CustomRoutes, Resource, reactRouterProvider } from "react-admin";
import audit from "./audit";
import { authProvider, roleAtLeast } from "./authProvider";
import { ComparePage } from "./compare/ComparePage";
import { createDataProvider } from "./dataProvider";
import datasets from "./datasets";
import { ExplainPage } from "./explain/ExplainPage";
import { Layout } from "./Layout";
import { LoginPage } from "./LoginPage";
import modelVersions from "./modelVersions";
import runs from "./runs";
import { SubmitPage } from "./submit/SubmitPage";
import sweeps from "./sweeps";
import workers from "./workers";

// The router react-admin already uses (react-router), without depending on it directly.
const { Route } = reactRouterProvider;

export function App() {
  const dataProvider = useMemo(createDataProvider, []);
  return (
    <Admin
      title="xnn"
      dataProvider={dataProvider}
      authProvider={authProvider}
      loginPage={LoginPage}
      layout={Layout}
      disableTelemetry
      requireAuth
    >
      {(permissions: unknown) => (
        <>
          <Resource name="sweeps" {...sweeps} />
          <Resource name="runs" {...runs} />
          <Resource name="model-versions" options={{ label: "Model versions" }} {...modelVersions} />
          <Resource name="workers" {...workers} />
          <Resource name="datasets" options={{ label: "Data sets" }} {...datasets} />
          {/* The audit trail is for admins; the API refuses it to anyone else as well. */}
          {roleAtLeast(permissions, "admin") && (
            <Resource name="audit" options={{ label: "Audit" }} {...audit} />
          )}
          <CustomRoutes>
            <Route
              path="/compare"
              element={
                <Authenticated>
                  <ComparePage />
                </Authenticated>
              }
            />
            <Route
              path="/explain"
              element={
                <Authenticated>
                  <ExplainPage />
                </Authenticated>
              }
            />
            <Route
              path="/submit"
              element={
                <Authenticated>
                  <SubmitPage />
                </Authenticated>
              }
            />
          </CustomRoutes>
        </>
      )}
    </Admin>
  );
}
