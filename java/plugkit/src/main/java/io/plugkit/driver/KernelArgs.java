package io.plugkit.driver;

/**
 * The argument check every driver runs before a launch: the count and the Java type of each
 * argument must match the kernel's declared parameters, so that a wrong call is an
 * {@link IllegalArgumentException} naming the kernel and the argument, never a bad native call.
 */
public final class KernelArgs {
  private KernelArgs() {}

  /**
   * Checks {@code args} against {@link Kernel#params()}: a Long for PTR and I64, an Integer for
   * I32, a Float for F32. Argument indices in messages count from 0 and exclude the leading n.
   */
  public static void validate(Kernel kernel, long n, Object[] args) {
    if (n < 0) throw new IllegalArgumentException("kernel " + kernel.name() + ": n: expected >= 0 but got " + n);
    int expected = kernel.params().size();
    if (args == null || args.length != expected) {
      throw new IllegalArgumentException("kernel " + kernel.name() + ": expected " + expected + " arguments after n but got "
          + (args == null ? "null" : String.valueOf(args.length)));
    }
    for (int i = 0; i < expected; i++) {
      ArgKind kind = kernel.params().get(i);
      Class<?> type = javaType(kind);
      Object arg = args[i];
      if (!type.isInstance(arg)) {
        throw new IllegalArgumentException("kernel " + kernel.name() + ": argument " + i + " (" + kind + "): expected "
            + type.getSimpleName() + " but got " + (arg == null ? "null" : arg.getClass().getSimpleName() + " " + arg));
      }
    }
  }

  /** The boxed Java type that carries an argument of this kind. */
  public static Class<?> javaType(ArgKind kind) {
    return switch (kind) {
      case PTR, I64 -> Long.class;
      case I32 -> Integer.class;
      case F32 -> Float.class;
    };
  }
}
