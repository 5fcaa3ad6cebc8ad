/** Placeholder: filled by the armor benchmark. */
export async function run(): Promise<void> {}
