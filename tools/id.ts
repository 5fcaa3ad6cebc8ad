/** `ztroot id` — placeholder until the identity tool lands. */
export async function main(_argv: string[]): Promise<number> {
  console.error('ztroot id: not implemented yet');
  return 2;
}
