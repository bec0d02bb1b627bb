namespace Finetune.Bench;

public static class Program
{
    public static int Main(string[] args)
    {
        var suites = typeof(Program).Assembly.GetTypes()
            .Where(t => typeof(IBenchSuite).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false })
            .Select(t => (IBenchSuite)Activator.CreateInstance(t)!)
            .OrderBy(s => s.Name, StringComparer.Ordinal)
            .ToList();
        if (args.Length == 0 || args[0] is "-h" or "--help")
        {
            Console.WriteLine("usage: dotnet run -c Release --project bench/Finetune.Bench -- SUITE [--json FILE] [suite options]");
            foreach (var s in suites) Console.WriteLine($"  {s.Name,-10} {s.Description}");
            return args.Length == 0 ? 2 : 0;
        }
        var suite = suites.FirstOrDefault(s => s.Name == args[0]);
        if (suite == null)
        {
            Console.Error.WriteLine($"unknown suite '{args[0]}'; known: {string.Join(", ", suites.Select(s => s.Name))}");
            return 2;
        }
        var rest = args[1..].ToList();
        string? json = null;
        int i = rest.IndexOf("--json");
        if (i >= 0 && i + 1 < rest.Count) { json = rest[i + 1]; rest.RemoveRange(i, 2); }
        var results = new BenchResults();
        int code = suite.Run(rest.ToArray(), results);
        if (json != null) results.WriteJsonLines(json);
        return code;
    }
}
