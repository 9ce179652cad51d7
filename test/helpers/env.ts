/**
 * Runs `work` with the environment variables given set (or removed, for
 * `undefined`), and puts every one of them back afterwards, whatever happens.
 */
export async function withEnv<T>(vars: Record<string, string | undefined>, work: () => T | Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, process.env[name]]));
  const apply = (values: Record<string, string | undefined>) => {
    for (const [name, value] of Object.entries(values)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  };
  apply(vars);
  try {
    return await work();
  } finally {
    apply(saved);
  }
}
