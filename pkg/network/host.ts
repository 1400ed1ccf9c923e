import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { createSocket } from 'node:dgram';
import { access, writeFile } from 'node:fs/promises';
import { errors } from '../api/index.js';
import type { Protocol } from './ports.js';

/** Everything the bridge manager does to the host goes through this interface (a recording fake is in fake-host.ts). */
export interface NetHost {
  /** Runs a command, feeding `input` on stdin; resolves with stdout; rejects with a ShoalError naming the command and its stderr. */
  run(cmd: string, args: string[], input?: string): Promise<string>;
  /** Writes `/proc/sys/<key with dots as slashes>`; false when the key does not exist on this kernel. */
  writeSysctl(key: string, value: string): Promise<boolean>;
  /** True when nothing listens on hostIp:port (checked by binding it). */
  portFree(protocol: Protocol, hostIp: string, port: number): Promise<boolean>;
  /** A port the kernel considers free right now (bind to 0). */
  freePort(protocol: Protocol, hostIp: string): Promise<number>;
}

export class RealNetHost implements NetHost {
  run(cmd: string, args: string[], input?: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      const err: Buffer[] = [];
      child.stdout.on('data', (b: Buffer) => out.push(b));
      child.stderr.on('data', (b: Buffer) => err.push(b));
      child.on('error', (e) => reject(errors.internal(`${cmd}: ${e.message}`, { cause: e })));
      child.on('close', (code) => {
        if (code === 0) resolve(Buffer.concat(out).toString('utf8'));
        else reject(errors.internal(`${cmd} ${args.join(' ')} failed (exit ${code}): ${Buffer.concat(err).toString('utf8').trim()}`));
      });
      child.stdin.on('error', () => undefined);
      child.stdin.end(input ?? '');
    });
  }

  async writeSysctl(key: string, value: string): Promise<boolean> {
    const path = `/proc/sys/${key.replace(/\./g, '/')}`;
    try {
      await access(path);
    } catch {
      return false;
    }
    await writeFile(path, value);
    return true;
  }

  portFree(protocol: Protocol, hostIp: string, port: number): Promise<boolean> {
    return bindProbe(protocol, hostIp, port).then(
      () => true,
      (e: NodeJS.ErrnoException) => {
        if (e.code === 'EADDRINUSE' || e.code === 'EACCES') return false;
        throw errors.invalidArgument(`cannot bind ${hostIp || '0.0.0.0'}:${port}/${protocol}: ${e.message}`);
      },
    );
  }

  freePort(protocol: Protocol, hostIp: string): Promise<number> {
    return bindProbe(protocol, hostIp, 0);
  }
}

function bindProbe(protocol: Protocol, hostIp: string, port: number): Promise<number> {
  const host = hostIp === '' ? '0.0.0.0' : hostIp;
  return new Promise((resolve, reject) => {
    if (protocol === 'udp') {
      const s = createSocket('udp4');
      s.once('error', (e) => {
        s.close();
        reject(e);
      });
      s.bind({ address: host, port, exclusive: true }, () => {
        const p = s.address().port;
        s.close(() => resolve(p));
      });
      return;
    }
    const srv = createServer();
    srv.once('error', reject);
    srv.listen({ host, port, exclusive: true }, () => {
      const addr = srv.address();
      const p = typeof addr === 'object' && addr !== null ? addr.port : port;
      srv.close(() => resolve(p));
    });
  });
}
