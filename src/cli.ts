#!/usr/bin/env node
import './silent-debug.js'; // first: before mqtt-packet and mqtt.js load `debug`
import { runCli } from './cli/program.js';

// Exit through process.exitCode, not process.exit(), so pending log lines and JSON are flushed.
process.exitCode = await runCli(process.argv.slice(2));
