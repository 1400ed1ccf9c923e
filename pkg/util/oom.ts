/**
 * The daemons' own OOM protection. Under memory pressure the kernel should kill a container
 * before the agent that supervises it, the controller, or the embedded etcd (which inherits
 * the controller's value when it is started): each sets its oom_score_adj to -500 at start,
 * as dockerd does by default. Containers are set back to Docker's default (0) by the runtime
 * driver, since children inherit the value.
 */
import { writeFile } from 'node:fs/promises';

export const DAEMON_OOM_SCORE_ADJ = -500;

/** Sets this process's oom_score_adj; says why not (no CAP_SYS_RESOURCE) instead of failing. */
export async function protectFromOom(value = DAEMON_OOM_SCORE_ADJ, file = '/proc/self/oom_score_adj'): Promise<string | undefined> {
  try {
    await writeFile(file, String(value));
    return undefined;
  } catch (err) {
    return `cannot set oom_score_adj to ${value}: ${(err as Error).message}`;
  }
}
