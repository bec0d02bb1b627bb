namespace Finetune.Tests.Core;

public class AtomicFileTests
{
    [Fact]
    public void WriteReplacesTheFileWholeAndLeavesNoTemporaryBehind()
    {
        using var dir = new TempDir();
        string path = dir.File("model.safetensors");
        File.WriteAllText(path, "old contents");
        AtomicFile.WriteAllText(path, "new");
        Assert.Equal("new", File.ReadAllText(path));
        Assert.Equal(new[] { "model.safetensors" }, Directory.GetFiles(dir.Path).Select(Path.GetFileName));
    }

    [Fact]
    public void AFailedWriteKeepsThePreviousFileIntact()
    {
        using var dir = new TempDir();
        string path = dir.File("config.json");
        File.WriteAllText(path, "{\"ok\": true}");
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(path, s =>
        {
            s.Write(new byte[] { 1, 2, 3 });
            throw new InvalidOperationException("crash mid-write");
        }));
        Assert.Equal("{\"ok\": true}", File.ReadAllText(path));
        Assert.Single(Directory.GetFiles(dir.Path));
    }
}
