/**
 * Platforms (os/architecture/variant) and choosing the manifest of an index that fits a node,
 * with containerd's compatibility rules: amd64 v3 runs v1..v3 images, arm v7 runs v5..v7,
 * arm64 means v8 unless told otherwise.
 */
import { ShoalError } from '../../api/index.js';
import type { Descriptor, ImageIndex, Platform } from './manifest.js';

/** A platform as a node or a user names it: the OCI Platform's os, architecture and variant. */
export type PlatformSpec = Pick<Platform, 'os' | 'architecture' | 'variant'>;

/** Normalises architecture aliases and default variants (x86_64 -> amd64, aarch64 -> arm64/v8, armhf -> arm/v7). */
export function normalizePlatform(p: PlatformSpec): Required<Pick<PlatformSpec, 'os' | 'architecture'>> & { variant: string } {
  const os = p.os.toLowerCase();
  let arch = p.architecture.toLowerCase();
  let variant = (p.variant ?? '').toLowerCase();
  switch (arch) {
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      arch = 'amd64';
      if (variant === '') variant = 'v1';
      break;
    case 'aarch64':
    case 'arm64':
      arch = 'arm64';
      if (variant === '' || variant === '8') variant = 'v8';
      break;
    case 'armhf':
      arch = 'arm';
      variant = 'v7';
      break;
    case 'armel':
      arch = 'arm';
      variant = 'v6';
      break;
    case 'arm':
      if (variant === '' || variant === '7') variant = 'v7';
      else if (/^[5-8]$/.test(variant)) variant = `v${variant}`;
      break;
    case 'i386':
    case 'i686':
    case 'x86':
      arch = '386';
      break;
    default:
      break;
  }
  return { os, architecture: arch, variant };
}

export function formatPlatform(p: PlatformSpec): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/**
 * The platform of a node from Node's `process.arch` (passed in, so this stays pure);
 * `armVersion` is `process.config.variables.arm_version` on 32-bit arm.
 */
export function detectPlatform(nodeArch: string, armVersion?: string | number): PlatformSpec {
  const map: Record<string, string> = {
    x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x',
    riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le',
  };
  const architecture = map[nodeArch] ?? nodeArch;
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  if (architecture === 'arm') return { os: 'linux', architecture, variant: `v${armVersion ?? 7}` };
  return { os: 'linux', architecture };
}

function variantLevel(v: string): number {
  const m = /^v(\d+)$/.exec(v);
  return m ? Number(m[1]) : Number.NaN;
}

/**
 * How well an index entry's platform fits `want`: -1 when it cannot run, otherwise higher is
 * better (the exact variant beats older compatible ones).
 */
export function platformScore(have: Platform | PlatformSpec, want: PlatformSpec): number {
  const h = normalizePlatform(have);
  const w = normalizePlatform(want);
  if (h.os !== w.os || h.architecture !== w.architecture) return -1;
  if (h.variant === w.variant) return 100;
  // Older variants of amd64 (v1..v4) and arm (v5..v8) run on newer CPUs.
  if (w.architecture === 'amd64' || w.architecture === 'arm') {
    const hl = variantLevel(h.variant);
    const wl = variantLevel(w.variant);
    if (Number.isFinite(hl) && Number.isFinite(wl) && hl <= wl) return hl;
  }
  return -1;
}

/**
 * The manifest of `index` for `want` (entries without a platform are ignored, as are
 * attestations, which carry `unknown/unknown`). NotFound lists the platforms the index has.
 */
export function selectPlatform(index: ImageIndex, want: PlatformSpec): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = -1;
  for (const d of index.manifests) {
    if (!d.platform) continue;
    const s = platformScore(d.platform, want);
    if (s > bestScore) {
      best = d;
      bestScore = s;
    }
  }
  if (best) return best;
  const available = index.manifests.filter((d) => d.platform && d.platform.os !== 'unknown').map((d) => formatPlatform(d.platform!));
  throw new ShoalError(
    'NotFound',
    `no image for platform ${formatPlatform(want)} in the index (available: ${available.length ? [...new Set(available)].join(', ') : 'none'})`,
  );
}
