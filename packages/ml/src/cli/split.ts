import { processIO } from "./cliUtil.js";
import { splitCommand } from "./dataCommands.js";
import { registrarFor } from "./registerDataSet.js";

process.exitCode = await splitCommand(process.argv.slice(2), processIO, {
  register: registrarFor(process.env.DATABASE_URL),
});
