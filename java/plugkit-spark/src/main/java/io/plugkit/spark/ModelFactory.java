package io.plugkit.spark;

import io.plugkit.Device;
import io.plugkit.nn.Module;
import java.io.Serializable;
import java.lang.reflect.InvocationTargetException;

/**
 * Builds the architecture of the model a {@link PlugkitScorer} runs, on the given device, with any
 * initial weights: the scorer then loads the broadcast weights into it (strictly by default) and
 * freezes it. Called once per executor JVM and scorer, on the executor, inside a {@link
 * io.plugkit.Scope} that the executor's model cache keeps open while the model is cached.
 *
 * <p>Serializable because Spark ships it to the executors with the task: a lambda assigned to this
 * type is serializable when everything it captures is. {@link #named(String)} refers to a factory
 * class by name instead (nothing is captured; the class must be on the executors' class path).
 */
@FunctionalInterface
public interface ModelFactory extends Serializable {
  Module build(Device device);

  /**
   * The factory of class {@code className} (a {@link ModelFactory} with a public no-argument
   * constructor), instantiated on each executor by name. The class is checked here, on the driver.
   */
  static ModelFactory named(String className) {
    if (className == null || className.isBlank()) {
      throw new IllegalArgumentException("className: expected the name of a ModelFactory class but got " + (className == null ? "null" : "'" + className + "'"));
    }
    instantiate(className); // fail on the driver, not in a task
    return new Named(className);
  }

  /** A factory found by class name on the JVM that builds the model. */
  record Named(String className) implements ModelFactory {
    @Override public Module build(Device device) { return instantiate(className).build(device); }

    @Override public String toString() { return "ModelFactory.named(" + className + ")"; }
  }

  private static ModelFactory instantiate(String className) {
    Class<?> c;
    try {
      ClassLoader loader = Thread.currentThread().getContextClassLoader();
      c = Class.forName(className, true, loader != null ? loader : ModelFactory.class.getClassLoader());
    } catch (ClassNotFoundException e) {
      throw new IllegalArgumentException("className: no class " + className + " on the class path", e);
    }
    if (!ModelFactory.class.isAssignableFrom(c)) {
      throw new IllegalArgumentException("className: expected a class implementing " + ModelFactory.class.getName() + " but " + className + " does not");
    }
    try {
      return (ModelFactory) c.getConstructor().newInstance();
    } catch (NoSuchMethodException | IllegalAccessException | InstantiationException e) {
      throw new IllegalArgumentException("className: " + className + " needs a public no-argument constructor", e);
    } catch (InvocationTargetException e) {
      throw new IllegalStateException("the constructor of " + className + " threw", e.getCause());
    }
  }
}
