package io.plugkit.driver;

/** A native library call failed: carries the library's error name, code and message. */
public final class NativeException extends RuntimeException {
  private final String library;
  private final int code;
  private final String errorName;

  public NativeException(String library, String call, int code, String errorName, String message) {
    super(library + ": " + call + " failed: " + errorName + " (" + code + ")" + (message == null || message.isEmpty() ? "" : ": " + message));
    this.library = library;
    this.code = code;
    this.errorName = errorName;
  }

  public String library() { return library; }

  public int code() { return code; }

  public String errorName() { return errorName; }
}
