import { synthCommand } from "../data/commands.js";

process.exitCode = await synthCommand(process.argv.slice(2));
