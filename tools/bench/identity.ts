/** Placeholder: filled by the identity benchmark. */
export async function run(): Promise<void> {}
