using Microsoft.Playwright;

namespace Finetune.Tests.Serving;

/// <summary>
/// The page at / in a real browser (Playwright driving Debian's headless Chromium, phone-width window): type a
/// sentence, submit, read the predicted label and one bar per label; the values equal the pipeline's.
/// The screenshot is written to serve-page.png beside the test assembly.
/// </summary>
public sealed class ServeBrowserTests(ServingModel model) : IClassFixture<ServingModel>
{
    [SkippableFact]
    public async Task ThePageClassifiesATypedSentenceAndDrawsABarPerLabel()
    {
        string? chromium = new[] { "/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome" }.FirstOrDefault(File.Exists);
        Skip.If(chromium == null, "headless Chromium is not installed (Debian package 'chromium'): the browser test drives it through Playwright");
        string sentence = ServingModel.Sentences[3];
        var want = model.Classifier.Pipeline.Predict([sentence], topK: null)[0];
        await using var server = await model.StartAsync();

        using var playwright = await Playwright.CreateAsync();
        await using var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = chromium,
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
            Timeout = 60_000,
        });
        var page = await browser.NewPageAsync(new BrowserNewPageOptions { ViewportSize = new ViewportSize { Width = 390, Height = 844 } });
        page.SetDefaultTimeout(60_000);
        await page.GotoAsync(server.Url + "/");
        // The model's info is shown.
        await Assertions.Expect(page.Locator("#info")).ToContainTextAsync("positive");
        await page.FillAsync("#text", sentence);
        await page.ClickAsync("#submit");
        await page.Locator("#bars .row").First.WaitForAsync();

        Assert.Equal(want[0].Label, (await page.TextContentAsync("#label"))?.Trim());
        var rows = page.Locator("#bars .row");
        Assert.Equal(ServingModel.LabelNames.Length, await rows.CountAsync());
        for (int i = 0; i < want.Count; i++)
        {
            var row = rows.Nth(i);
            Assert.Equal(want[i].Label, await row.GetAttributeAsync("data-label"));
            string pct = (await row.Locator(".pct").TextContentAsync())!;
            Assert.Equal((100 * want[i].Score).ToString("0.0", System.Globalization.CultureInfo.InvariantCulture) + "%", pct);
            // The bar's drawn width follows the probability.
            var track = await row.Locator(".track").BoundingBoxAsync();
            var fill = await row.Locator(".fill").BoundingBoxAsync();
            Assert.True(track != null && fill != null, "a bar is not drawn");
            Assert.Equal(want[i].Score, fill!.Width / track!.Width, 0.02);
        }
        // Nothing is wider than a phone screen.
        Assert.True(await page.EvaluateAsync<bool>("document.documentElement.scrollWidth <= window.innerWidth"), "the page scrolls sideways at 390 px");

        string png = Path.Combine(AppContext.BaseDirectory, "serve-page.png");
        await page.ScreenshotAsync(new PageScreenshotOptions { Path = png, FullPage = true });
        Assert.True(new FileInfo(png).Length > 10_000, "the screenshot looks empty");
    }
}
