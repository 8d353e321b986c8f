-- A busted output handler: the usual terminal output, plus one line
-- "<lua>: N passed, N failed, N skipped" printed and appended to
-- $KVS_TALLY_FILE so `make test` can add up every suite.
return function(options)
    local busted = require "busted"
    local handler = require "busted.outputHandlers.utfTerminal"(options)

    busted.subscribe({ "suite", "end" }, function()
        local failed = handler.failuresCount + handler.errorsCount
        local line = string.format("%s: %d passed, %d failed, %d skipped",
            type(jit) == "table" and jit.version or _VERSION, handler.successesCount, failed, handler.pendingsCount)
        io.stdout:write("\n", line, "\n")
        local path = os.getenv("KVS_TALLY_FILE")
        if path then
            local f = assert(io.open(path, "a"))
            f:write(line, "\n")
            f:close()
        end
        return nil, true
    end)

    return handler
end
