/**
 * What the task worker needs of the node's runtime (images and containers), as an interface
 * with an adapter over ImageService + ContainerManager. Tests use a fake.
 */
import { CONTAINER_TASK_LABEL, isShoalError } from '../../api/index.js';
import type { ContainerManager, CreateOptions, ImageService } from '../../runtime/index.js';
import type { LayerProgress } from '../../api/index.js';
import type { ContainerView } from './next-action.js';

export interface TaskContainer extends ContainerView {
  name: string;
  labels: Record<string, string>;
  ip?: string;
}

export interface TaskRuntime {
  /** Every container (all states) that carries the `shoal.task` label, or only those of task `key`. */
  taskContainers(key?: string): TaskContainer[];
  hasImage(ref: string): Promise<boolean>;
  pull(ref: string, onProgress: (ev: LayerProgress) => void, signal: AbortSignal): Promise<void>;
  create(opts: CreateOptions): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, timeoutS: number): Promise<void>;
  remove(id: string): Promise<void>;
  /** Resolves once the container is not running (or gone); never rejects. */
  waitExit(id: string, signal: AbortSignal): Promise<void>;
}

export function containerRuntime(containers: ContainerManager, images: ImageService): TaskRuntime {
  return {
    taskContainers(key) {
      // Called on every step of every task worker: filter on the label before building anything.
      const out: TaskContainer[] = [];
      for (const id of containers.idsWithLabel(CONTAINER_TASK_LABEL, key)) {
        let ins;
        try {
          ins = containers.inspect(id);
        } catch {
          continue; // removed meanwhile
        }
        const ip = Object.values(ins.NetworkSettings.Networks).find((n) => n.IPAddress)?.IPAddress;
        out.push({
          id: ins.Id,
          name: ins.Name.replace(/^\//, ''),
          labels: ins.Config.Labels,
          status: ins.State.Status,
          exitCode: ins.State.ExitCode,
          oomKilled: ins.State.OOMKilled,
          error: ins.State.Error,
          startedAt: ins.State.StartedAt,
          finishedAt: ins.State.FinishedAt,
          ...(ip !== undefined ? { ip } : {}),
        });
      }
      return out;
    },
    async hasImage(ref) {
      try {
        await images.inspect(ref);
        return true;
      } catch (err) {
        if (isShoalError(err, 'NotFound')) return false;
        throw err;
      }
    },
    async pull(ref, onProgress, signal) {
      await images.pull(ref, { onProgress, signal });
    },
    async create(opts) {
      return (await containers.create(opts)).Id;
    },
    start: (id) => containers.start(id),
    stop: (id, t) => containers.stop(id, t),
    remove: (id) => containers.remove(id, { force: true }),
    async waitExit(id, signal) {
      try {
        await containers.wait(id, signal);
      } catch {
        // gone or aborted: either way, nothing runs any more to wait for
      }
    },
  };
}
