/**
 * Copies all reflect metadata from one function to another. A decorator that replaces a method
 * must do this: @Cron/@Interval/@Timeout and route decorators store their metadata on the function
 * itself, and @nestjs/schedule reads it from whatever function sits on the prototype at init.
 * (Same approach as nestjs-cls's utils/copy-method-metadata.ts.)
 */
export function copyMethodMetadata(from: object, to: object): void {
  for (const key of Reflect.getOwnMetadataKeys(from)) {
    Reflect.defineMetadata(key, Reflect.getOwnMetadata(key, from), to);
  }
}
