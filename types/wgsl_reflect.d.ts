// Node resolves wgsl_reflect's CommonJS `main`; we import its ES module file directly.
declare module 'wgsl_reflect/wgsl_reflect.module.js' {
  export * from 'wgsl_reflect';
}
