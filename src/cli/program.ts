import { Command, CommanderError, Option } from 'commander';
import { LOG_LEVELS } from '../config/schema.js';
import { UsmpError } from '../errors.js';
import { VERSION } from '../version.js';
import { registerCheckCommand } from './commands/check.js';
import { registerConfigCommands } from './commands/config.js';
import { registerDemoCommand } from './commands/demo.js';
import { registerDeviceCommands } from './commands/device.js';
import { registerProbeCommands } from './commands/probe.js';
import { registerQosCommands } from './commands/qos.js';
import { registerQualifyCommand } from './commands/qualify.js';
import { registerReportCommands } from './commands/report.js';
import { registerCollectorCommands } from './commands/collector.js';
import { registerResponderCommand } from './commands/responder.js';
import { registerResponderKeysCommands } from './commands/responder-keys.js';
import { registerRtpCommands } from './commands/rtp.js';
import { registerRunCommand } from './commands/run.js';
import { createContext, type CliContext, type GlobalOptions } from './context.js';
import { consoleOutput, EXIT, reportError, type Output } from './output.js';

/**
 * Parses argv, runs one command, and resolves to the process exit code:
 * 0 success/pass, 1 a measured FAIL, 2 usage or runtime error (the README's contract).
 */
export async function runCli(argv: string[], out: Output = consoleOutput): Promise<number> {
  let exitCode: number = EXIT.OK;
  const setExit = (code: number): void => {
    exitCode = code;
  };
  const program = new Command('usmp-edge')
    .description('Telemedicine link appliance for prison health units: qualify the link, enforce QoS, bridge medical devices, monitor, report.')
    .version(VERSION, '-V, --version', 'print the version')
    .option('-c, --config <file>', 'configuration file (default /etc/usmp-edge/config.json)')
    .addOption(new Option('--log-level <level>', 'log level').choices([...LOG_LEVELS]))
    .exitOverride()
    .configureOutput({
      writeOut: (text) => process.stdout.write(text),
      writeErr: (text) => process.stderr.write(text),
      outputError: () => undefined, // we print our own coded message below
    });

  let context: CliContext | undefined;
  const getContext = (): CliContext => (context ??= createContext(program.opts<GlobalOptions>(), out));

  registerConfigCommands(program, getContext, setExit);
  registerResponderCommand(program, getContext, setExit);
  registerResponderKeysCommands(program, getContext, setExit);
  registerProbeCommands(program, getContext, setExit);
  registerQualifyCommand(program, getContext, setExit);
  registerQosCommands(program, getContext, setExit);
  registerRunCommand(program, getContext, setExit);
  registerDeviceCommands(program, getContext, setExit);
  registerRtpCommands(program, getContext, setExit);
  registerCheckCommand(program, getContext, setExit);
  registerReportCommands(program, getContext, setExit);
  registerCollectorCommands(program, getContext, setExit);
  registerDemoCommand(program, getContext, setExit);

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (['commander.helpDisplayed', 'commander.version', 'commander.help'].includes(err.code)) return EXIT.OK;
      if (err.code === 'commander.executeSubCommandAsync') return EXIT.ERROR;
      const message = err.message.replace(/^error: /, '');
      return reportError(new UsmpError('USMP_E_USAGE', message), out, false);
    }
    return reportError(err, out, false);
  }
  return exitCode;
}
