// shoal-agent entry point (filled in by the engine issues).
process.stderr.write('shoal-agent: not built yet\n');
process.exitCode = 1;
