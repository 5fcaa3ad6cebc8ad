/**
 * `ztroot start` — the root server. Not built yet (issue 4); until then it says what it will do.
 */
export async function main(argv: string[]): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log('usage: ztroot start [--config FILE] [--print-config]\n\nRuns a ZeroTier root (not yet implemented).');
    return 0;
  }
  console.log(
    [
      'ztroot start: the root server is not built yet.',
      'When it is, this command will:',
      '  1. create ./.state/ with identity.secret (0600) and identity.public on first run,',
      '  2. make a one-root planet for this root (and its signing keys) if none is configured,',
      '  3. listen on UDP 9993 (IPv4 and IPv6), answer HELLO/WHOIS/ECHO and relay between peers,',
      '  4. print where the planet file is and how to install it on a client.',
      "Today you can already make identities: 'ztroot id generate identity.secret identity.public'.",
    ].join('\n'),
  );
  return 0;
}
