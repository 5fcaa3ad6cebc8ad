/**
 * A socket that could not bind or listen, in one line that says what, where and which option fixes it —
 * what `ztroot start` and `ztroot relay` print instead of Node's "Error: bind EADDRINUSE" and its stack.
 */

/** What was being bound: shown as "<what> <host>:<port>", fixed with `hostFlag` / `portFlag`. */
export interface ListenTarget {
  /** "UDP", "TCP relay", "HTTP API"… */
  what: string;
  host: string;
  port: number;
  /** The option that sets the address (e.g. "--bind4", "--http"). */
  hostFlag: string;
  /** The option that sets the port (e.g. "--port", "--http"). */
  portFlag: string;
  /** Said after "in use" for ports the operator did not choose directly (e.g. a port the planet lists). */
  portNote?: string;
}

function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * One line for a bind/listen failure, or null if `e` is not one (then the caller reports it as it is).
 * Uses the address and port the error names when it has them (they say which of several sockets failed).
 */
export function describeListenError(t: ListenTarget, e: unknown): string | null {
  const err = e as (NodeJS.ErrnoException & { address?: string; port?: number }) | null;
  if (err === null || typeof err !== 'object' || typeof err.code !== 'string') return null;
  const host = typeof err.address === 'string' ? err.address : t.host;
  const port = typeof err.port === 'number' ? err.port : t.port;
  const where = `${t.what} ${hostPort(host, port)}`;
  switch (err.code) {
    case 'EADDRINUSE':
      return `${t.what} port ${port} on ${host} is already in use (another ztroot or zerotier-one?): stop that process, or choose another ${t.portFlag}${t.portNote ? ` (${t.portNote})` : ''}`;
    case 'EADDRNOTAVAIL':
      return `${t.what} ${host}: not an address of this host: fix ${t.hostFlag} (an address of this host${t.hostFlag === t.portFlag ? '' : ", or 'none'"})`;
    case 'EACCES':
    case 'EPERM':
      return `${t.what} port ${port} on ${host}: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE: setcap cap_net_bind_service=+ep "$(command -v node)"): choose another ${t.portFlag} or grant the capability`;
    case 'EAFNOSUPPORT':
      return `${t.what} ${host}: this host has no ${host.includes(':') ? 'IPv6' : 'IPv4'}: ${t.hostFlag === '--bind6' || t.hostFlag === '--bind4' ? `${t.hostFlag} none` : `fix ${t.hostFlag}`}`;
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
    case 'EINVAL':
      return `${t.what} ${host}: not a usable address (${err.code}): fix ${t.hostFlag}`;
    default:
      return err.syscall === 'bind' || err.syscall === 'listen' ? `${where}: ${err.code}: fix ${t.hostFlag === t.portFlag ? t.hostFlag : `${t.hostFlag} / ${t.portFlag}`}` : null;
  }
}

/** One line for a failure to create, read or write `path` (the state directory, a key file…), or null. */
export function describeFileError(what: string, path: string, fix: string, e: unknown): string | null {
  const err = e as NodeJS.ErrnoException | null;
  if (err === null || typeof err !== 'object' || typeof err.code !== 'string' || typeof err.syscall !== 'string') return null;
  const why: Record<string, string> = {
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'read-only file system',
    ENOTDIR: 'a path component is not a directory',
    EEXIST: 'exists and is not a directory',
    ENOENT: 'no such file or directory',
    EISDIR: 'is a directory',
    ENOSPC: 'no space left on the device',
  };
  const failing = typeof err.path === 'string' && err.path !== path ? ` (${err.syscall} ${err.path})` : '';
  return `${what} ${path}: ${why[err.code] ?? err.code} [${err.code}]${failing}: ${fix}`;
}
