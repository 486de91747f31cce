import KeyIcon from "@mui/icons-material/Key";
import Alert from "@mui/material/Alert";
import Box from "@mui/material/Box";
import Button from "@mui/material/Button";
import Card from "@mui/material/Card";
import CardContent from "@mui/material/CardContent";
import TextField from "@mui/material/TextField";
import Typography from "@mui/material/Typography";
import { type FormEvent, useState } from "react";
import { useLogin } from "react-admin";

/** Paste an API token (`pnpm xnn token create --role admin`, or `pnpm demo` prints one); checked against /api/me. */
export function LoginPage() {
  const login = useLogin();
  const [token, setToken] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      await login({ token });
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <Box
      sx={{
        minHeight: "100vh",
        display: "flex",
        alignItems: "center",
        justifyContent: "center",
        bgcolor: "grey.100",
      }}
    >
      <Card sx={{ width: 420 }}>
        <CardContent>
          <Typography variant="h5" gutterBottom>
            xnn experiments
          </Typography>
          <Typography color="text.secondary" sx={{ mb: 2 }}>
            Sign in with an API token.
          </Typography>
          <form onSubmit={submit} data-testid="login-form" aria-label="login">
            <TextField
              label="API token"
              type="password"
              fullWidth
              autoFocus
              value={token}
              onChange={(e) => setToken(e.target.value)}
              slotProps={{ htmlInput: { "data-testid": "login-token", "aria-label": "API token" } }}
            />
            {error && (
              <Alert severity="error" sx={{ mt: 2 }} data-testid="login-error">
                {error}
              </Alert>
            )}
            <Button
              type="submit"
              variant="contained"
              fullWidth
              sx={{ mt: 2 }}
              startIcon={<KeyIcon />}
              disabled={busy || token.trim() === ""}
              data-testid="login-submit"
            >
              Sign in
            </Button>
          </form>
        </CardContent>
      </Card>
    </Box>
  );
}
