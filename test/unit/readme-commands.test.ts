import t from 'tap';
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

// The README's table of commands, as written: every command it names exists in the built CLI,
// and every option it shows for a command is one that command's --help lists.

const run = promisify(execFile);
const CLI = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const README = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');

interface Written {
  words: string[];
  options: string[];
  text: string;
}

function writtenCommands(): Written[] {
  const out: Written[] = [];
  for (const line of README.split('\n')) {
    if (!line.startsWith('| `usmp-edge')) continue;
    const firstCell = line.slice(2, line.indexOf(' | ', 2));
    for (const [, text] of firstCell.matchAll(/`(usmp-edge [^`]+)`/g)) {
      const tokens = text!.split(/\s+/).slice(1);
      const words: string[] = [];
      for (const token of tokens) {
        if (!/^[a-z][a-z-]*$/.test(token)) break;
        words.push(token);
      }
      out.push({ words, options: [...text!.matchAll(/--[a-z][a-z-]*/g)].map((m) => m[0]), text: text! });
    }
  }
  return out;
}

t.test('every command of the README exists, with the options it is shown with', async (t) => {
  const commands = writtenCommands();
  t.ok(commands.length >= 30, `${commands.length} commands read from the README`);
  for (const command of commands) {
    const { stdout } = await run(process.execPath, [CLI, ...command.words, '--help']);
    const usage = ['usmp-edge', ...command.words].join(' ');
    t.ok(stdout.startsWith(`Usage: ${usage} `), `${usage}: a command (${stdout.split('\n')[0]})`);
    for (const option of command.options) {
      if (option === '--help' || option === '--version') continue;
      t.ok(stdout.includes(option), `${command.text}: ${option} is in its --help`);
    }
  }
});
