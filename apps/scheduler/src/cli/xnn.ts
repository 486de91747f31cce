// `pnpm xnn <command> ...`: one entry for the scheduler's small admin commands.

// Top-level await needs a module.
export {};

const USAGE = `Usage: pnpm xnn <command> [...]

Commands:
  token create --role viewer|operator|admin [--name NAME]   issue an API token (printed once)
  token list                                                list tokens (never their secrets)
  token revoke <id>                                         revoke a token
  reconcile [--dry-run]                                     repair runs and jobs that disagree
  weights import <file> --arch ARCH --out DIR               convert published weights for model.pretrainedDir

Environment: DATABASE_URL (postgres://...); reconcile also REDIS_URL, XNN_QUEUE_PREFIX; weights none.`;

const [command, ...rest] = process.argv.slice(2);
switch (command) {
  case "token": {
    const { tokenCommand } = await import("./token");
    process.exitCode = await tokenCommand(rest);
    break;
  }
  case "reconcile": {
    const { reconcileCommand } = await import("./reconcile");
    process.exitCode = await reconcileCommand(rest);
    break;
  }
  case "weights": {
    const { weightsCommand } = await import("@xnn/ml/weights");
    process.exitCode = await weightsCommand(rest);
    break;
  }
  case undefined:
  case "-h":
  case "--help":
    process.stdout.write(`${USAGE}\n`);
    break;
  default:
    process.stderr.write(`unknown command ${command}\n\n${USAGE}\n`);
    process.exitCode = 2;
}
