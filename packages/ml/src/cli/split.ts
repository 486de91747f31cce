import { splitCommand } from "../data/commands.js";

process.exitCode = await splitCommand(process.argv.slice(2));
