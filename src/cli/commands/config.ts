import type { Command } from 'commander';
import { loadConfig, DEFAULT_CONFIG_FILE } from '../../config/load.js';
import { envNameFor, listLeaves } from '../../config/schema.js';
import type { CliContext } from '../context.js';
import { EXIT, reportError } from '../output.js';

export function registerConfigCommands(program: Command, context: () => CliContext, setExit: (code: number) => void): void {
  const config = program.command('config').description('check or show the configuration');

  config
    .command('check [file]')
    .description(`validate a configuration file (default: --config, else ${DEFAULT_CONFIG_FILE}); lists every problem with its key path`)
    .option('--json', 'print the result as one JSON document on stdout')
    .action((file: string | undefined, options: { json?: boolean }) => {
      const ctx = context();
      const target = file ?? ctx.globals.config;
      try {
        const loaded = loadConfig(target === undefined ? {} : { file: target, explicit: true });
        const where = loaded.source ?? `defaults and environment (no file at ${DEFAULT_CONFIG_FILE})`;
        if (options.json) ctx.out.json({ ok: true, source: loaded.source, problems: [] });
        ctx.out.say(`configuration OK: ${where}`);
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, options.json === true));
      }
    });

  config
    .command('show')
    .description('print the effective configuration (defaults < file < USMP_EDGE_* environment), secrets masked')
    .option('--env', 'list the environment variable of every key instead')
    .action((options: { env?: boolean }) => {
      const ctx = context();
      if (options.env) {
        for (const { path, leaf } of listLeaves()) ctx.out.say(`${envNameFor(path).padEnd(44)} ${path}  (${leaf.doc})`);
        setExit(EXIT.OK);
        return;
      }
      try {
        const loaded = ctx.config();
        ctx.out.json({ source: loaded.source, values: loaded.values, secrets: loaded.secrets });
        setExit(EXIT.OK);
      } catch (err) {
        setExit(reportError(err, ctx.out, false));
      }
    });
}
