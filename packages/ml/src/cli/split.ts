import { splitCommand } from "./dataCommands.js";

process.exitCode = await splitCommand(process.argv.slice(2));
