// Loaded before ReDoc's bundle: an image it asks another origin for (its "API docs by Redocly"
// logo, from cdn.redoc.ly) is never requested, so the page loads nothing from elsewhere and the
// Content-Security-Policy has nothing to refuse. Images of our origin, data: and blob: pass.
(function () {
  "use strict";
  function foreign(value) {
    try {
      var url = new URL(String(value), document.baseURI);
      return (url.protocol === "http:" || url.protocol === "https:") &&
        url.origin !== window.location.origin;
    } catch (error) {
      return false;
    }
  }
  var setAttribute = Element.prototype.setAttribute;
  Element.prototype.setAttribute = function (name, value) {
    if (this instanceof HTMLImageElement && String(name).toLowerCase() === "src" && foreign(value)) {
      return undefined;
    }
    return setAttribute.call(this, name, value);
  };
  var source = Object.getOwnPropertyDescriptor(HTMLImageElement.prototype, "src");
  Object.defineProperty(HTMLImageElement.prototype, "src", {
    configurable: true,
    enumerable: source.enumerable,
    get: source.get,
    set: function (value) {
      if (!foreign(value)) {
        source.set.call(this, value);
      }
    },
  });
})();
