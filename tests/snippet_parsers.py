"""Reads rendered snippets with the parsers their clients use, for the property tests.

Input (stdin): a JSON list of {"kind": ..., "path": ...}. Output (stdout): a JSON list with,
for each file, what the client would see, or {"error": "..."} if the parser refused it.

- ini:    botocore's reader (configparser.RawConfigParser): {section: {key: value}}
- s3cfg:  s3cmd's own S3.Config.ConfigParser: {key: value}
- yaml:   PyYAML's safe_load (what openstacksdk uses)
- python: the keyword arguments of the boto3.client(...) call, as literals
- python-calls: every call's keyword arguments (and positional ones, as "0", "1", ...), as
  literals, by the called function's name: {"IAMAuthenticator": {"apikey": ...}, ...}
"""

import ast
import configparser
import json
import sys

import yaml
from S3.Config import ConfigParser as S3cmdParser


def read_ini(path):
    parser = configparser.RawConfigParser()
    with open(path, encoding="utf-8") as file:
        parser.read_file(file)
    return {section: dict(parser.items(section)) for section in parser.sections()}


def read_s3cfg(path):
    return S3cmdParser(path, ["default"]).cfg


def read_yaml(path):
    with open(path, encoding="utf-8") as file:
        return yaml.safe_load(file)


def read_python(path):
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "client":
            values = {}
            for keyword in node.keywords:
                try:
                    values[keyword.arg] = ast.literal_eval(keyword.value)
                except ValueError:
                    values[keyword.arg] = ast.unparse(keyword.value)
            return values
    raise ValueError("no boto3.client(...) call")


def literal(node):
    try:
        return ast.literal_eval(node)
    except ValueError:
        return ast.unparse(node)


def read_python_calls(path):
    with open(path, encoding="utf-8") as file:
        tree = ast.parse(file.read())
    calls = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", None) or getattr(node.func, "id", "")
            values = {str(i): literal(arg) for i, arg in enumerate(node.args)}
            values.update({k.arg: literal(k.value) for k in node.keywords})
            calls[name] = values
    return calls


READERS = {
    "ini": read_ini,
    "s3cfg": read_s3cfg,
    "yaml": read_yaml,
    "python": read_python,
    "python-calls": read_python_calls,
}


def main():
    results = []
    for item in json.load(sys.stdin):
        try:
            results.append(READERS[item["kind"]](item["path"]))
        except Exception as error:  # the test reports what the parser said
            results.append({"error": f"{type(error).__name__}: {error}"})
    json.dump(results, sys.stdout)


if __name__ == "__main__":
    main()
