/** `roo demo`: word count on a bundled text, on a local worker, end to end. */
export async function run(argv: string[]): Promise<number> {
  const { runDemo } = await import('./demo.js');
  return runDemo(argv);
}
