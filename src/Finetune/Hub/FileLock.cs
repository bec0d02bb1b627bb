namespace Finetune.Hub;

/// <summary>
/// An exclusive lock on a file shared between processes. .NET opens a file with FileShare.None using flock(2) on
/// Unix, the same advisory lock Python's filelock takes, so Finetune and huggingface_hub also exclude each other.
/// </summary>
internal sealed class FileLock : IDisposable
{
    private readonly FileStream _stream;

    private FileLock(FileStream stream) => _stream = stream;

    public static FileLock Acquire(string path, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        int wait = 10;
        while (true)
        {
            try
            {
                Directory.CreateDirectory(Path.GetDirectoryName(path)!);
                return new FileLock(new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None));
            }
            catch (IOException e) when (IsHeldElsewhere(e) && DateTime.UtcNow < deadline)
            {
                // Held by another process (or thread): wait and try again.
            }
            catch (IOException e)
            {
                throw new FinetuneException(ErrorKind.Io, IsHeldElsewhere(e)
                    ? $"Could not take the download lock '{path}' within {timeout.TotalSeconds:0} s: another download holds it."
                    : $"Could not create the download lock '{path}': {e.Message}", e);
            }
            catch (UnauthorizedAccessException e)
            {
                throw new FinetuneException(ErrorKind.Io, $"Could not create the download lock '{path}': the cache folder is not writable.", e);
            }
            ct.ThrowIfCancellationRequested();
            Thread.Sleep(wait);
            wait = Math.Min(wait * 2, 200);
        }
    }

    // How .NET reports a file locked by someone else: a sharing violation on Windows; on Unix the IOException
    // carries flock's errno, EWOULDBLOCK (11 on Linux, 35 on macOS). Any other I/O error (a read-only file
    // system) is final.
    private static bool IsHeldElsewhere(IOException e) =>
        e.HResult == unchecked((int)0x80070020) || (!OperatingSystem.IsWindows() && e.HResult == (OperatingSystem.IsMacOS() ? 35 : 11));

    public void Dispose() => _stream.Dispose();
}
