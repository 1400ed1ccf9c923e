/**
 * Image references, parsed and normalised as Docker does (distribution/reference):
 *
 *   busybox                         -> docker.io/library/busybox:latest
 *   index.docker.io/foo/bar         -> docker.io/foo/bar:latest
 *   localhost:5000/team/app:1.2     -> localhost:5000/team/app:1.2
 *   app@sha256:<64 hex>             -> docker.io/library/app@sha256:...   (no implicit tag)
 *
 * The first path component is a registry host only when it contains `.` or `:`, is
 * `localhost`, or has upper-case letters; otherwise the registry is docker.io.
 */
import { ShoalError } from '../../api/index.js';
import { parseDigest, type Digest } from './digest.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
export const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
export const NAME_TOTAL_LENGTH_MAX = 255;

/** What a registry client needs to address a repository. */
export interface Repository {
  /** Registry host, possibly with a port: `docker.io`, `127.0.0.1:5000`, `[::1]:5000`. */
  readonly domain: string;
  /** Repository path inside the registry: `library/busybox`. */
  readonly path: string;
}

export interface Reference extends Repository {
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;
  /** `domain/path` */
  readonly repository: string;
  /** The short form people type: `busybox:latest`, `foo/bar@sha256:...`, `localhost:5000/x:1`. */
  readonly familiar: string;
  /** The full normalised form: `docker.io/library/busybox:latest`. */
  toString(): string;
}

// Grammar of distribution/reference (regexp.go).
const ALNUM = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]+)';
const PATH_COMPONENT = `${ALNUM}(?:${SEPARATOR}${ALNUM})*`;
const REMOTE_NAME = `${PATH_COMPONENT}(?:/${PATH_COMPONENT})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_NAME = `${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*`;
const IPV6 = '\\[(?:[a-fA-F0-9:]+)\\]';
const HOST = `(?:${DOMAIN_NAME}|${IPV6})`;
const DOMAIN_AND_PORT = `${HOST}(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';

const DOMAIN_RE = new RegExp(`^${DOMAIN_AND_PORT}$`);
const REMOTE_NAME_RE = new RegExp(`^${REMOTE_NAME}$`);
const TAG_RE = new RegExp(`^${TAG}$`);
const ANCHORED_ID_RE = /^[a-f0-9]{64}$/;

class ParsedReference implements Reference {
  readonly domain: string;
  readonly path: string;
  readonly tag: string | undefined;
  readonly digest: Digest | undefined;

  constructor(domain: string, path: string, tag: string | undefined, digest: Digest | undefined) {
    this.domain = domain;
    this.path = path;
    this.tag = tag;
    this.digest = digest;
  }

  get repository(): string {
    return `${this.domain}/${this.path}`;
  }

  get familiar(): string {
    let name = this.repository;
    if (this.domain === DEFAULT_DOMAIN) {
      name = this.path;
      if (name.startsWith(OFFICIAL_REPO_PREFIX) && !name.slice(OFFICIAL_REPO_PREFIX.length).includes('/')) {
        name = name.slice(OFFICIAL_REPO_PREFIX.length);
      }
    }
    return name + suffix(this.tag, this.digest);
  }

  toString(): string {
    return this.repository + suffix(this.tag, this.digest);
  }

  toJSON(): string {
    return this.toString();
  }
}

function suffix(tag: string | undefined, digest: string | undefined): string {
  return (tag !== undefined ? `:${tag}` : '') + (digest !== undefined ? `@${digest}` : '');
}

function invalid(input: string, why: string): ShoalError {
  return new ShoalError('InvalidArgument', `invalid reference "${input}": ${why}`);
}

/** Splits `name` into (domain, remainder) as Docker's splitDockerDomain does. */
function splitDomain(name: string): [string, string] {
  const slash = name.indexOf('/');
  if (slash < 0) return [DEFAULT_DOMAIN, OFFICIAL_REPO_PREFIX + name];
  const maybeDomain = name.slice(0, slash);
  const rest = name.slice(slash + 1);
  let domain: string;
  if (maybeDomain === 'localhost') return [maybeDomain, rest];
  if (maybeDomain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  else if (/[.:]/.test(maybeDomain) || maybeDomain.toLowerCase() !== maybeDomain) domain = maybeDomain;
  else return [DEFAULT_DOMAIN, name];
  if (domain === DEFAULT_DOMAIN && !rest.includes('/')) return [domain, OFFICIAL_REPO_PREFIX + rest];
  return [domain, rest];
}

export interface ParseReferenceOptions {
  /** Add `:latest` when there is neither tag nor digest (Docker's TagNameOnly). Default true. */
  defaultTag?: boolean;
}

/** Parses and normalises an image reference; InvalidArgument names the input and why it is invalid. */
export function parseReference(input: string, opts: ParseReferenceOptions = {}): Reference {
  if (typeof input !== 'string' || input.length === 0) throw invalid(String(input ?? ''), 'empty reference');
  if (input.trim() !== input) throw invalid(input, 'leading or trailing whitespace');
  if (ANCHORED_ID_RE.test(input)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name');
  }

  // Digest: everything after the first '@'.
  let rest = input;
  let digest: Digest | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    const d = rest.slice(at + 1);
    rest = rest.slice(0, at);
    try {
      parseDigest(d);
    } catch (err) {
      throw invalid(input, (err as Error).message);
    }
    digest = d;
  }

  // Tag: after the last ':' that comes after the last '/' (a ':' before a '/' is a port).
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon >= 0 && colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) {
      throw invalid(input, `invalid tag "${tag}" (letters, digits, '_', '.', '-'; at most 128 characters; not starting with '.' or '-')`);
    }
  }
  if (rest.length === 0) throw invalid(input, 'missing repository name');

  const [domain, path] = splitDomain(rest);
  if (!DOMAIN_RE.test(domain)) throw invalid(input, `invalid registry host "${domain}"`);
  if (path.toLowerCase() !== path) throw invalid(input, `repository name (${path}) must be lowercase`);
  if (!REMOTE_NAME_RE.test(path)) {
    throw invalid(
      input,
      `invalid repository name "${path}" (path components of lowercase letters and digits, separated by '/', joined by '.', '_', '__' or '-')`,
    );
  }
  const full = `${domain}/${path}`;
  if (full.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(input, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters (${full.length})`);
  }
  if (tag === undefined && digest === undefined && opts.defaultTag !== false) tag = DEFAULT_TAG;
  return new ParsedReference(domain, path, tag, digest);
}

/** Builds a reference from parts (validated like a parsed one). */
export function makeReference(repo: Repository, tag?: string, digest?: Digest): Reference {
  return parseReference(`${repo.domain}/${repo.path}${suffix(tag, digest)}`, { defaultTag: false });
}

/** The same repository with another tag (and no digest). */
export function withTag(ref: Repository, tag: string): Reference {
  return makeReference(ref, tag);
}

/** The same repository pinned to a digest (tag dropped). */
export function withDigest(ref: Repository, digest: Digest): Reference {
  return makeReference(ref, undefined, digest);
}

/** The normalised string of a reference given as text (`busybox` -> `docker.io/library/busybox:latest`). */
export function normalizeReference(input: string): string {
  return parseReference(input).toString();
}
