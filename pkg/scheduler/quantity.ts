/**
 * Quantities as the scheduler counts them: CPU in millicores and memory in bytes, with an
 * absent request counting as zero. Parsing is pkg/api's (the validator's), so what the API
 * accepts and what the scheduler counts cannot drift apart.
 */
import { parseCpuMillis, parseMemoryBytes } from '../api/index.js';

/** CPU in millicores, rounded up (`500m` → 500, `2` → 2000); 0 when absent. */
export function cpuMillis(text: string | number | undefined): number {
  return text === undefined ? 0 : parseCpuMillis(text);
}

/** Memory in bytes, rounded up; 0 when absent. */
export function memoryBytes(text: string | number | undefined): number {
  return text === undefined ? 0 : parseMemoryBytes(text);
}
