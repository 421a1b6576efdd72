// Ships Python 3.12 bytecode of lib/ and api/ in every Lambda package (serverless.yml: plugins).
//
// Lambda's filesystem is read-only, so a package without bytecode compiles our modules again at
// every cold start (SnapStart or not, each new version's init does). Before the packages are
// built, this compiles lib/ and api/ with the runtime's interpreter (provider.runtime,
// python3.12) into __pycache__/*.cpython-312.pyc, as unchecked-hash pycs (PEP 552): valid
// whatever mtimes the zip gives the sources, and read without looking at the source. It adds
// them to the packages (the service's lib/ and api/__init__, and each function's own api/*.py)
// and removes them from the working tree once the packages are built, since an unchecked pyc
// left beside a source that is later edited would shadow the edit.
"use strict";

const { spawnSync } = require("child_process");
const fs = require("fs");
const path = require("path");

const PACKAGES = ["lib", "api"];

function pycOf(source, tag) {
  const { dir, name } = path.posix.parse(source);
  return `${dir}/__pycache__/${name}.${tag}.pyc`;
}

class PythonBytecode {
  constructor(serverless) {
    this.serverless = serverless;
    this.hooks = {
      "before:package:createDeploymentArtifacts": () => this.compile(),
      "after:package:createDeploymentArtifacts": () => this.clean(),
      "before:deploy:function:packageFunction": () => this.compile(),
      "after:deploy:function:packageFunction": () => this.clean(),
    };
  }

  fail(message) {
    throw new this.serverless.classes.Error(`python bytecode: ${message}`);
  }

  run(python, args) {
    const done = spawnSync(python, args, { cwd: this.serverless.serviceDir, encoding: "utf8" });
    if (done.error || done.status !== 0) {
      this.fail(`${python} ${args.join(" ")} failed: ${done.error || done.stderr}`);
    }
    return done.stdout.trim();
  }

  compile() {
    const service = this.serverless.service;
    const python = process.env.PYTHON_BYTECODE_BIN || service.provider.runtime;
    const tag = this.run(python, ["-c", "import sys; print(sys.implementation.cache_tag)"]);
    const wanted = `cpython-${service.provider.runtime.replace(/^python/, "").replace(".", "")}`;
    if (tag !== wanted) this.fail(`${python} writes ${tag} bytecode; the runtime loads ${wanted}`);
    process.once("exit", () => this.clean());
    this.run(python, ["-m", "compileall", "-q", "-f", "--invalidation-mode", "unchecked-hash", ...PACKAGES]);
    this.tag = tag;
    service.package.patterns = [
      ...(service.package.patterns || []),
      `lib/**/__pycache__/*.${tag}.pyc`,
      `api/__pycache__/__init__.${tag}.pyc`,
    ];
    for (const name of service.getAllFunctions()) {
      const own = service.getFunction(name).package;
      if (!own || !own.patterns) continue;
      const sources = own.patterns.filter((pattern) => /^api\/[^/*!]+\.py$/.test(pattern));
      own.patterns = [...own.patterns, ...sources.map((source) => pycOf(source, tag))];
    }
  }

  clean() {
    if (!this.tag) return;
    const remove = (dir) => {
      if (!fs.existsSync(dir)) return;
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) remove(full);
        else if (path.basename(dir) === "__pycache__" && entry.name.endsWith(`.${this.tag}.pyc`)) fs.unlinkSync(full);
      }
    };
    for (const dir of PACKAGES) remove(path.join(this.serverless.serviceDir, dir));
    this.tag = undefined;
  }
}

module.exports = PythonBytecode;
