package io.plugkit.driver;

/** A library, symbol or device that this machine lacks. The message starts with "unsupported: ". */
public final class UnsupportedFeatureException extends RuntimeException {
  public UnsupportedFeatureException(String what) { super("unsupported: " + what); }

  public UnsupportedFeatureException(String what, Throwable cause) { super("unsupported: " + what, cause); }
}
