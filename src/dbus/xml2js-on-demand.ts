/**
 * What dbus-next gets for `require('xml2js')` in the bundle (scripts/xml2js-on-demand.mjs puts it
 * there): xml2js itself, loaded from the bundle's node_modules the first time it is used instead of
 * when the program starts. dbus-next makes a Builder when a bus connects but uses it only to answer
 * an `Introspect` call, and a Parser only for proxy objects, which our programs never make; xml2js
 * with xmlbuilder and sax was about a sixth of the code every start compiled and ran. The real
 * classes do all the work, with the options dbus-next gave.
 */
import { createRequire } from 'node:module';

/** The part of xml2js's Builder dbus-next uses. */
interface RealBuilder {
  buildObject(root: unknown): string;
}

/** The part of xml2js dbus-next uses. */
interface Xml2js {
  readonly Builder: new (options?: object) => RealBuilder;
  readonly Parser: new (options?: object) => object;
}

let loaded: Xml2js | undefined;

/** xml2js from the node_modules beside the bundle, loaded once. */
function xml2js(): Xml2js {
  loaded ??= createRequire(import.meta.url)('xml2js') as Xml2js;
  return loaded;
}

/** xml2js's Builder, made with dbus-next's options when the first document is built. */
export class Builder {
  readonly #options: object | undefined;
  #real: RealBuilder | undefined;

  constructor(options?: object) {
    this.#options = options;
  }

  buildObject(root: unknown): string {
    this.#real ??= new (xml2js().Builder)(this.#options);
    return this.#real.buildObject(root);
  }
}

/** xml2js's Parser itself, loaded when one is made. */
export class Parser {
  constructor(options?: object) {
    // biome-ignore lint/correctness/noConstructorReturn: the real parser stands in for this one
    return new (xml2js().Parser)(options);
  }
}
