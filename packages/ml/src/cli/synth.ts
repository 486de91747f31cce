import { synthCommand } from "./dataCommands.js";

process.exitCode = await synthCommand(process.argv.slice(2));
