/** Docker-shaped views of a container: `inspect` and the `ps` summary (of one, or of all). Pure. */
import type { ContainerSpec, ContainerState, NetworkAttachment } from './types.js';
import type { ContainerInspect, ContainerSummary } from '../../api/index.js';
import { isLive } from './entry.js';

/** What the listings read of a container record. */
interface Listed {
  spec: ContainerSpec;
  state: ContainerState;
  removed: boolean;
}

const listed = (e: Listed): boolean => !e.removed && e.state.Status !== 'creating';

/** Ids of the containers `ps -a` shows whose label `key` is set (to `value`, if given); no summaries built. */
export function labelledIds(records: Iterable<Listed>, key: string, value?: string): string[] {
  const out: string[] = [];
  for (const e of records) {
    const v = listed(e) ? e.spec.Config.Labels[key] : undefined;
    if (v !== undefined && (value === undefined || v === value)) out.push(e.spec.Id);
  }
  return out;
}

/** `ps` (running ones) or `ps -a`, newest first. */
export function summaries(records: Iterable<Listed>, opts: { all?: boolean }, now: Date): ContainerSummary[] {
  return [...records]
    .filter((e) => listed(e) && (opts.all || isLive(e.state)))
    .sort((a, b) => b.spec.Created.localeCompare(a.spec.Created))
    .map((e) => toSummary(e.spec, e.state, now));
}

export function toInspect(spec: ContainerSpec, state: ContainerState, networks: NetworkAttachment['networks']): ContainerInspect {
  const status = state.Status === 'creating' ? 'created' : state.Status;
  return {
    Id: spec.Id,
    Name: spec.Name,
    Created: spec.Created,
    Path: spec.Path,
    Args: spec.Args,
    State: {
      Status: status,
      Running: status === 'running' || status === 'paused',
      Paused: status === 'paused',
      Restarting: false,
      OOMKilled: state.OOMKilled,
      Dead: status === 'dead',
      Pid: state.Pid,
      ExitCode: state.ExitCode,
      Error: state.Error,
      StartedAt: state.StartedAt,
      FinishedAt: state.FinishedAt,
    },
    Image: spec.Image,
    LogPath: spec.LogPath,
    RestartCount: state.RestartCount,
    Config: spec.Config,
    HostConfig: spec.HostConfig,
    Mounts: spec.Mounts,
    NetworkSettings: { Networks: networks, Ports: state.Network?.ports ?? [] },
  };
}

/** Docker's units.HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.floor(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const min = Math.floor(s / 60);
  if (min === 1) return 'About a minute';
  if (min < 60) return `${min} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function statusText(state: ContainerState, now: Date): string {
  const since = (t: string) => humanDuration(Math.max(0, now.getTime() - new Date(t).getTime()));
  switch (state.Status) {
    case 'running':
      return `Up ${since(state.StartedAt)}`;
    case 'paused':
      return `Up ${since(state.StartedAt)} (Paused)`;
    case 'exited':
      return `Exited (${state.ExitCode}) ${since(state.FinishedAt)} ago`;
    case 'removing':
      return 'Removal In Progress';
    case 'dead':
      return 'Dead';
    default:
      return 'Created';
  }
}

export function toSummary(spec: ContainerSpec, state: ContainerState, now: Date): ContainerSummary {
  return {
    Id: spec.Id,
    Names: [spec.Name],
    Image: spec.ImageRef,
    ImageID: spec.Image,
    Command: [spec.Path, ...spec.Args].join(' '),
    Created: Math.floor(new Date(spec.Created).getTime() / 1000),
    State: state.Status === 'creating' ? 'created' : state.Status,
    Status: statusText(state, now),
    Ports: state.Network?.ports ?? [],
    Labels: spec.Config.Labels,
  };
}
