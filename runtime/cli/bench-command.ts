/** `roo bench`: word count throughput by thread count (see bench/). */
export async function run(argv: string[]): Promise<number> {
  const { runBench } = await import('../../bench/run.js');
  return runBench(argv);
}
