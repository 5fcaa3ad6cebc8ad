/** Placeholder until mkplanet lands. */
export async function main(_argv: string[]): Promise<number> {
  console.error("mkplanet: not implemented yet");
  return 2;
}
