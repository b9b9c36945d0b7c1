import type { Command } from 'commander';
import type { CliContext } from '../context.js';
import { EXIT } from '../output.js';

export function registerDemoCommand(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  program
    .command('demo')
    .description('the main job on an embedded default: start a local responder, qualify the link to it, print the verdict')
    .action(() => {
      const ctx = context();
      ctx.out.say('usmp-edge demo: link qualification is not built yet (issue 3); the project is installed and configured.');
      setExit(EXIT.OK);
    });
}
