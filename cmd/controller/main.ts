// shoal-controller entry point (filled in by the control-plane issue).
process.stderr.write('shoal-controller: not built yet\n');
process.exitCode = 1;
