import { processIO } from "./cliUtil.js";
import { synthCommand } from "./dataCommands.js";
import { registrarFor } from "./registerDataSet.js";

process.exitCode = await synthCommand(process.argv.slice(2), processIO, {
  register: registrarFor(process.env.DATABASE_URL),
});
